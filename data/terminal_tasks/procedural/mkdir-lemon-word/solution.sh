mkdir -p /app/lemon && touch /app/lemon/word.txt
