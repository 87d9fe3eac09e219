mkdir -p /app/honey && touch /app/honey/data.txt
