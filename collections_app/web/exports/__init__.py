"""Export pages and downloads (views) with their routes (urls)."""
