"""Session media: metadata, streamed uploads, content, thumbnails and annotations."""
