echo lemon > /app/word.txt
