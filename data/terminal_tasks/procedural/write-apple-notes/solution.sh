echo apple > /app/notes.txt
