echo cloud > /app/word.txt
