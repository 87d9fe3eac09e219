echo cloud > /app/notes.txt
