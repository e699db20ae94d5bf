"""Point clouds from meshes: surface sampling (with part labels), the merge of its shards, and partial
scans (ScanObjectNN-style)."""
