echo ocean > /app/word.txt
