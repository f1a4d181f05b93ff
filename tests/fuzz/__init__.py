"""Fuzz targets and their kept corpus."""
