echo maple > /app/notes.txt
