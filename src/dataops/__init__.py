"""DataOps V1 work-engine."""
