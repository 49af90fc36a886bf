"""The wire format: Avro schemas read and written, and the input events as typed values."""
