DROP TABLE known_devices;
DROP TABLE password_resets;
DROP TABLE mail_outbox;
