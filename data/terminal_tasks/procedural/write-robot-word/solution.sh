echo robot > /app/word.txt
