mkdir -p /app/honey && touch /app/honey/word.txt
