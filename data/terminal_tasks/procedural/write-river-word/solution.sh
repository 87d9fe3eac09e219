echo river > /app/word.txt
