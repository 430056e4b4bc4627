DROP TABLE audit_stream_destinations;
