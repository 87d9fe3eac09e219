mkdir -p /app/lemon && touch /app/lemon/data.txt
