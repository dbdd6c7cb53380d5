"""The blob store port and its adapters: files on the local disk, or an S3-compatible bucket."""
