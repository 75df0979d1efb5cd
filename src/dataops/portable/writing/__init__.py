"""Writing an export: reading the store (one snapshot on DynamoDB), encoding each record to
its line, the files, checksums and the `.tar.gz`.
"""
