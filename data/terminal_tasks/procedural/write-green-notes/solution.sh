echo green > /app/notes.txt
