"""What people and programs see: rich tables and progress for runs and for server operations."""
