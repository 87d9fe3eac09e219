mkdir -p /app/tiger && touch /app/tiger/result.txt
