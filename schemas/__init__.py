"""The Avro contract: one .avsc per record type in avro/, packaged with the code."""
