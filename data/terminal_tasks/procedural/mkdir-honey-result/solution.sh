mkdir -p /app/honey && touch /app/honey/result.txt
