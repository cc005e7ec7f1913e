"""`try`: an image's migrations against a throwaway database, without Dokku."""
