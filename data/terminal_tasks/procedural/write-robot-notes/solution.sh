echo robot > /app/notes.txt
