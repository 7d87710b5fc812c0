"""Foundations every stage uses: errors, atomic files, locks, progress, memory and disk, the cache folder."""
