"""The registry: people, enrollments and payments; resident ID rules; pseudonyms."""
