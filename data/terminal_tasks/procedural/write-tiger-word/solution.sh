echo tiger > /app/word.txt
