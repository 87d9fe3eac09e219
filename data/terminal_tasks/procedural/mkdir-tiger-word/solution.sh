mkdir -p /app/tiger && touch /app/tiger/word.txt
