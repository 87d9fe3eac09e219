echo piano > /app/word.txt
