echo honey > /app/word.txt
