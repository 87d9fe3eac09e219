import sys

a, b = sys.argv[1], sys.argv[2]
print(a + b)
