echo piano > /app/notes.txt
