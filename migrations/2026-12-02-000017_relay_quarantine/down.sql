DROP TABLE relay_quarantine;
