mkdir -p /app/lemon && touch /app/lemon/result.txt
