// StreamEngine tests live beside this file.
