mkdir -p /app/lemon && touch /app/lemon/out.txt
