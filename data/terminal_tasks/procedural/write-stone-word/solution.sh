echo stone > /app/word.txt
