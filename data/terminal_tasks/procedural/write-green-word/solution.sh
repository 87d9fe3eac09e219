echo green > /app/word.txt
