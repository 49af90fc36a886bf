"""Personal data in transcripts: finding it and keeping it out of everything callfocus stores."""
