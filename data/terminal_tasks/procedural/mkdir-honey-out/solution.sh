mkdir -p /app/honey && touch /app/honey/out.txt
