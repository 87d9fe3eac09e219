mkdir -p /app/tiger && touch /app/tiger/data.txt
