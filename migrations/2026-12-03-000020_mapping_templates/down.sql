DROP TABLE mapping_templates;
