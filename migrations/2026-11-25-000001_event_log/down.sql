DROP TABLE dead_letters;
DROP TABLE probes;
DROP TABLE processed_events;
DROP TABLE relay_cursors;
DROP TABLE event_log_head;
DROP TABLE events;
DROP FUNCTION events_refuse_change();
