echo ocean > /app/notes.txt
