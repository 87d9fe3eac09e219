echo maple > /app/word.txt
