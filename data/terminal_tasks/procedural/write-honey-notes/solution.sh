echo honey > /app/notes.txt
