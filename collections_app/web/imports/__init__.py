"""Import pages (views) with their routes (urls)."""
