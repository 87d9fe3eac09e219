echo apple > /app/word.txt
